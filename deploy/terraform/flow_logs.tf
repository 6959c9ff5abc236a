# Every connection a security group or network ACL rejects in the VPC, kept
# 14 days in CloudWatch Logs: where an operator, or a learner who just broke a
# rule, sees what was dropped (Logs Insights: filter action = "REJECT").

# Accepted (AWS-0017): CloudWatch Logs encrypts at rest with its own key; a customer-managed KMS key adds $1/month and a key policy for what are connection metadata.
#trivy:ignore:AWS-0017
resource "aws_cloudwatch_log_group" "flow_rejects" {
  name_prefix       = "/roboshop/vpc-rejects-"
  retention_in_days = 14
}

resource "aws_iam_role" "flow_logs" {
  name_prefix = "roboshop-flow-logs-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-rejects"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow_rejects.arn}:*"
    }]
  })
}

resource "aws_flow_log" "rejects" {
  vpc_id                   = aws_vpc.main.id
  traffic_type             = "REJECT"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_rejects.arn
  iam_role_arn             = aws_iam_role.flow_logs.arn
  max_aggregation_interval = 60
}
