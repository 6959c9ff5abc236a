# Where instances get the release: a URL you host (release_url), or a private
# S3 bucket made here from a local release directory (release_dir). Either
# way every file is checked against SHA256SUMS and its digest before it is
# installed (modules/userdata/templates/fetch.sh.tftpl).

locals {
  release_in_s3    = var.release_dir != null
  release_location = local.release_in_s3 ? "s3://${aws_s3_bucket.release[0].bucket}" : var.release_url
  release_sums_sha256 = (var.release_sums_sha256 != null ? var.release_sums_sha256 :
  local.release_in_s3 ? filesha256("${var.release_dir}/SHA256SUMS") : "")
  # The release files each tier may read besides SHA256SUMS (its role's
  # policy, secrets.tf): its own binaries, or the UI.
  release_files = {
    user      = ["user-linux-*"]
    catalogue = ["catalogue-linux-*"]
    cart      = ["cart-linux-*"]
    payment   = ["payment-linux-*"]
    frontend  = ["frontend-html.tar.gz"]
  }
}

module "input_checks" {
  source              = "./modules/inputs"
  release_dir         = var.release_dir
  release_url         = var.release_url
  release_sums_sha256 = local.release_sums_sha256
  domain_name         = var.domain_name
  route53_zone        = var.route53_zone
  allow_plain_http    = var.allow_plain_http
}

# Accepted (AWS-0089): access logs would need a second bucket; each instance's role may read only its own files and SHA256SUMS, and every download is checked against the release's digest.
#trivy:ignore:AWS-0089
resource "aws_s3_bucket" "release" {
  count         = local.release_in_s3 ? 1 : 0
  bucket_prefix = "roboshop-release-"
  force_destroy = true # it holds only what release_dir does
}

resource "aws_s3_bucket_public_access_block" "release" {
  count                   = local.release_in_s3 ? 1 : 0
  bucket                  = aws_s3_bucket.release[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "release" {
  count  = local.release_in_s3 ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# A replaced release file stays recoverable.
resource "aws_s3_bucket_versioning" "release" {
  count  = local.release_in_s3 ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

# Accepted (AWS-0132): SSE-S3: the files are the open-source release, verified against SHA256SUMS; a KMS key would cost $1/month and a kms:Decrypt grant per role.
#trivy:ignore:AWS-0132
resource "aws_s3_bucket_server_side_encryption_configuration" "release" {
  count  = local.release_in_s3 ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# TLS only.
resource "aws_s3_bucket_policy" "release" {
  count  = local.release_in_s3 ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TLSOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.release[0].arn, "${aws_s3_bucket.release[0].arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.release]
}

resource "aws_s3_object" "release" {
  for_each    = local.release_in_s3 ? fileset(var.release_dir, "*") : toset([])
  bucket      = aws_s3_bucket.release[0].id
  key         = each.value
  source      = "${var.release_dir}/${each.value}"
  source_hash = filemd5("${var.release_dir}/${each.value}")
}

# Instances in the private subnet reach S3 through this, not the NAT gateway.
resource "aws_vpc_endpoint" "s3" {
  count             = local.release_in_s3 ? 1 : 0
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id, aws_route_table.public.id]
}
