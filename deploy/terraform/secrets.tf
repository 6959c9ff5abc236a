# Every secret is generated here and kept in SSM Parameter Store as a
# SecureString at /roboshop/<tier>/<NAME> (the default aws/ssm key); each
# instance's role may read its own tier's path and nothing else, and its user
# data fetches them at boot (modules/userdata: the parameters it reads are
# exactly the ones created here). No secret is in user data, the console or a
# plan's user_data. Terraform's state still holds them: keep the state in an
# encrypted remote backend (deploy/README.md).

resource "random_password" "redis" {
  length  = 32
  special = false
}

# Payment's MySQL users: its own (rows only) and the schema's owner, which
# its migrations connect as.
resource "random_password" "mysql" {
  for_each = toset(["app", "owner"])
  length   = 32
  special  = false
}

resource "random_password" "mongodb" {
  for_each = toset(["user", "catalogue"])
  length   = 32
  special  = false
}

# Payment's credential on the cart's settle: the cart takes an order's lines
# out only for the caller that holds it.
resource "random_password" "settle_token" {
  length  = 40
  special = false
}

# The user service's token signing key: the base64 of a 32-byte Ed25519 seed,
# so it never lives in MongoDB.
resource "random_bytes" "signing_key" {
  length = 32
}

locals {
  secret_values = {
    "user/SIGNING_KEY"                   = random_bytes.signing_key.base64
    "user/MONGO_URI"                     = "mongodb://user:${random_password.mongodb["user"].result}@user-mongodb.${var.dns_zone}:27017/users?authSource=users"
    "user-mongodb/MONGO_PASSWORD"        = random_password.mongodb["user"].result
    "catalogue/MONGO_URI"                = "mongodb://catalogue:${random_password.mongodb["catalogue"].result}@catalogue-mongodb.${var.dns_zone}:27017/catalogue?authSource=catalogue"
    "catalogue-mongodb/MONGO_PASSWORD"   = random_password.mongodb["catalogue"].result
    "cart/REDIS_URL"                     = "redis://:${random_password.redis.result}@cart-redis.${var.dns_zone}:6379/0"
    "cart-redis/REDIS_PASSWORD"          = random_password.redis.result
    "cart/SETTLE_TOKEN"                  = random_password.settle_token.result
    "payment/SETTLE_TOKEN"               = random_password.settle_token.result
    "payment/MYSQL_DSN"                  = "payment:${random_password.mysql["app"].result}@tcp(payment-mysql.${var.dns_zone}:3306)/payment?parseTime=true"
    "payment/MYSQL_MIGRATE_DSN"          = "roboshop:${random_password.mysql["owner"].result}@tcp(payment-mysql.${var.dns_zone}:3306)/payment?parseTime=true"
    "payment-mysql/MYSQL_PASSWORD"       = random_password.mysql["app"].result
    "payment-mysql/MYSQL_OWNER_PASSWORD" = random_password.mysql["owner"].result
  }
}

resource "aws_ssm_parameter" "secret" {
  # What user data reads: a secret it reads without a value here fails the plan.
  for_each    = module.userdata.secret_parameters
  name        = "/roboshop/${each.key}"
  description = "Roboshop: ${each.key}, read at boot by the ${split("/", each.key)[0]} instance"
  type        = "SecureString"
  value       = local.secret_values[each.key]
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# One role per tier. It may read its own secrets, /roboshop/<tier>/*, and,
# where the release is in the deployment's bucket (release.tf), its own
# release files and SHA256SUMS: nothing else.
resource "aws_iam_role" "tier" {
  for_each    = local.instance_tiers
  name_prefix = "roboshop-${each.key}-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "tier" {
  for_each = local.instance_tiers
  name     = "read-own-secrets-and-release"
  role     = aws_iam_role.tier[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([{
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter/roboshop/${each.key}/*"
      }], local.release_in_s3 && contains(keys(local.release_files), each.key) ? [{
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [for f in concat(local.release_files[each.key], ["SHA256SUMS"]) : "${aws_s3_bucket.release[0].arn}/${f}"]
    }] : [])
  })
}

resource "aws_iam_instance_profile" "tier" {
  for_each    = local.instance_tiers
  name_prefix = "roboshop-${each.key}-"
  role        = aws_iam_role.tier[each.key].name
}
