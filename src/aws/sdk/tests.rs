use super::super::port::sibling_alarm_arn;

#[test]
fn sibling_arns_share_partition_region_and_account() {
    assert_eq!(
        sibling_alarm_arn(
            "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:orders-scale-up",
            "orders-scale-down"
        )
        .as_deref(),
        Some("arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:orders-scale-down")
    );
    assert_eq!(sibling_alarm_arn("not-an-arn", "x"), None);
}
