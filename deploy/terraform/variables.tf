variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "instance_type" {
  description = "Instance type for every tier."
  type        = string
  default     = "t3.micro"
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

variable "release_url" {
  description = "Base URL of the release holding the static service binaries (<release_url>/<service>-linux-amd64)."
  type        = string
  validation {
    condition     = startswith(var.release_url, "https://")
    error_message = "release_url must be an https:// URL."
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
