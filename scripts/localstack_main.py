#!/usr/bin/env python3
"""Runs LocalStack core as a plain process (no Docker), for scripts/lib.sh's start_localstack.

LocalStack's Lambda pulls a runtime image before it creates a function; there is no Docker
engine here and no function is ever run, so that step is replaced by a no-op. Creating,
configuring and deleting functions (what CloudFormation and the concurrency calls need) works.
"""

import runpy

from localstack.services.lambda_.invocation import docker_runtime_executor

docker_runtime_executor._ensure_runtime_image_present = lambda *args, **kwargs: None

runpy.run_module("localstack.runtime.main", run_name="__main__")
