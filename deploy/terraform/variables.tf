variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "architecture" {
  description = "CPU architecture of every instance: x86_64, or arm64 (Graviton: about 20% cheaper for the same size). Picks the Debian 12 AMI and the default instance type; the release holds binaries for both."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "instance_type" {
  description = "Instance type for every tier (null: t3.micro on x86_64, t4g.micro on arm64). It must match architecture."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH through the bastion (null: no key, use SSM)."
  type        = string
  default     = null
}

variable "admin_cidr" {
  description = "The operators' network, the only source allowed to SSH to the bastion. Required: no default."
  type        = string
  validation {
    condition     = can(cidrhost(var.admin_cidr, 0)) && !endswith(var.admin_cidr, "/0")
    error_message = "admin_cidr must be a CIDR such as 203.0.113.0/24, never 0.0.0.0/0 or ::/0."
  }
}

variable "release_dir" {
  description = "A release directory made by scripts/release.sh (dist/<version>): Terraform uploads it to a private S3 bucket it creates, and each instance reads only its own files from it through its role and the VPC's S3 gateway endpoint. Set this or release_url."
  type        = string
  default     = null
}

variable "release_url" {
  description = "HTTPS base URL of a release made by scripts/release.sh (<release_url>/<service>-linux-<amd64|arm64>, SHA256SUMS), for a release you host yourself. Set this or release_dir."
  type        = string
  default     = null
  validation {
    condition     = var.release_url == null || startswith(coalesce(var.release_url, "https://"), "https://")
    error_message = "release_url must be an https:// URL."
  }
}

variable "release_sums_sha256" {
  description = "SHA-256 of the release's SHA256SUMS, as scripts/release.sh prints it: instances install only what it vouches for. Required with release_url; with release_dir it defaults to the digest of the local SHA256SUMS."
  type        = string
  default     = null
  validation {
    condition     = var.release_sums_sha256 == null || can(regex("^[0-9a-f]{64}$", coalesce(var.release_sums_sha256, "x")))
    error_message = "release_sums_sha256 must be 64 lowercase hex digits (scripts/release.sh prints it)."
  }
}

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "dns_zone" {
  description = "Private DNS zone in which tiers find each other (user.<zone>, ...)."
  type        = string
  default     = "roboshop.internal"
}

variable "seed_demo" {
  description = "Seed the demo account, whose password is in the README. Leave false for any shop others can reach."
  type        = bool
  default     = false
}

variable "domain_name" {
  description = "The shop's name (shop.example.com): the ALB serves HTTPS with an ACM certificate for it, validated through route53_zone. Null is refused unless allow_plain_http."
  type        = string
  default     = null
}

variable "allow_plain_http" {
  description = "Plan without domain_name: the ALB serves plain HTTP, passwords, tokens and card numbers in clear. Only for a throwaway trial; the warning output says so again."
  type        = bool
  default     = false
}

variable "route53_zone" {
  description = "The Route 53 public hosted zone you own that holds domain_name (example.com): the certificate's validation and the shop's alias records go there."
  type        = string
  default     = null
}

variable "desired_count" {
  description = "Instances in each Auto Scaling Group, by tier (frontend, user, catalogue, cart, payment); a tier left out has 1. One each keeps the lab cheap; a group may hold twice its count while a rolling release replaces it."
  type        = map(number)
  default     = { frontend = 1, user = 1, catalogue = 1, cart = 1, payment = 1 }
  validation {
    condition = alltrue([for tier, n in var.desired_count :
    contains(["frontend", "user", "catalogue", "cart", "payment"], tier) && n >= 1 && n <= 10 && floor(n) == n])
    error_message = "desired_count takes frontend, user, catalogue, cart and payment, each a whole number from 1 to 10."
  }
}
