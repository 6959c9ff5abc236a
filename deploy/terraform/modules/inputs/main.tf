# The deployment's inputs, checked together before anything is planned: a
# module of its own, with no provider, so the tests plan it with every
# combination (deploy/ec2/terraform_test.go).

variable "release_dir" {
  description = "The root module's release_dir."
  type        = string
}

variable "release_url" {
  description = "The root module's release_url."
  type        = string
}

variable "release_sums_sha256" {
  description = "The digest the instances check SHA256SUMS against (given, or computed from release_dir); empty when neither."
  type        = string
}

variable "domain_name" {
  description = "The root module's domain_name."
  type        = string
}

variable "route53_zone" {
  description = "The root module's route53_zone."
  type        = string
}

variable "allow_plain_http" {
  description = "The root module's allow_plain_http."
  type        = bool
}

resource "terraform_data" "checks" {
  lifecycle {
    precondition {
      condition     = (var.release_dir == null) != (var.release_url == null)
      error_message = "Set exactly one of release_dir (Terraform uploads it to S3) and release_url (you host it)."
    }
    precondition {
      condition     = (var.domain_name == null) == (var.route53_zone == null)
      error_message = "domain_name and route53_zone go together: the certificate is validated in that zone."
    }
    precondition {
      condition     = var.domain_name != null || var.allow_plain_http
      error_message = "No domain_name: the shop would be plain HTTP, with passwords, tokens and card numbers in clear. Set domain_name and route53_zone for HTTPS, or allow_plain_http = true for a throwaway trial (deploy/README.md, HTTPS)."
    }
    precondition {
      condition     = var.release_sums_sha256 != ""
      error_message = "release_url needs release_sums_sha256: the digest scripts/release.sh printed."
    }
  }
}
