data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account
  filter {
    name   = "name"
    values = ["debian-12-${var.architecture == "arm64" ? "arm64" : "amd64"}-*"]
  }
  filter {
    name   = "architecture"
    values = [var.architecture]
  }
}

module "userdata" {
  source              = "./modules/userdata"
  release_url         = local.release_location
  release_sums_sha256 = local.release_sums_sha256
  zone                = var.dns_zone
  # The public ALB's nodes live in the public subnets, the internal one's in
  # the private subnets: nginx believes X-Forwarded-For from the first, the
  # user service X-Real-IP from the second (whose group lets in only the
  # internal balancer).
  alb_range          = local.public_range
  internal_alb_range = local.private_range
  seed_demo          = var.seed_demo
  region             = var.region
}

locals {
  instance_type = coalesce(var.instance_type, var.architecture == "arm64" ? "t4g.micro" : "t3.micro")
  # Every group but the two load balancers' runs on instances (each tier has
  # its role and secrets: secrets.tf). The frontend and the services run as
  # Auto Scaling Groups (scaling.tf); the datastores and the bastion are
  # single instances. Only the bastion has a public address.
  # Spelled out rather than read from the rules module, so a scanner that
  # cannot run that module (trivy) still sees every instance; the check below
  # holds them to deploy/security-groups.
  load_balancers = toset(["alb", "internal-alb"])
  scaled_tiers   = toset(["frontend", "user", "catalogue", "cart", "payment"])
  single_tiers   = toset(["bastion", "user-mongodb", "catalogue-mongodb", "cart-redis", "payment-mysql"])
  instance_tiers = setunion(local.scaled_tiers, local.single_tiers)
  public_tiers   = toset(["bastion"])
}

resource "terraform_data" "tiers_match_the_groups" {
  lifecycle {
    precondition {
      condition     = setunion(local.instance_tiers, local.load_balancers) == toset(keys(module.rules.groups))
      error_message = "The tiers in instances.tf must be exactly the groups of deploy/security-groups."
    }
  }
}

# One instance for each datastore and for the bastion, each in its own
# security group.
resource "aws_instance" "tier" {
  for_each                    = local.single_tiers
  ami                         = data.aws_ami.debian.id
  instance_type               = local.instance_type
  key_name                    = var.key_name
  subnet_id                   = contains(local.public_tiers, each.key) ? aws_subnet.public.id : aws_subnet.private.id
  associate_public_ip_address = contains(local.public_tiers, each.key)
  vpc_security_group_ids      = [aws_security_group.group[each.key].id]
  iam_instance_profile        = aws_iam_instance_profile.tier[each.key].name
  user_data                   = module.userdata.user_data[each.key]
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 8
  }

  tags = { Name = "roboshop-${each.key}", Tier = each.key }

  # User data reads these at first boot: they must exist before it runs.
  depends_on = [aws_ssm_parameter.secret, aws_iam_role_policy.tier, aws_s3_object.release, aws_vpc_endpoint.s3]
}
