# The user data each tier boots with, rendered from ./templates without any
# provider, so `terraform plan` of this module alone (deploy/ec2's tests) shows
# exactly what an instance receives.

variable "release_url" {
  description = "Base URL of the release scripts/release.sh made: https://... (hosted by the user) or s3://<bucket> (the deployment's bucket)."
  type        = string
}

variable "release_sums_sha256" {
  description = "SHA-256 of the release's SHA256SUMS, as scripts/release.sh prints it."
  type        = string
}

variable "zone" {
  description = "Private DNS zone in which tiers find each other."
  type        = string
}

variable "alb_range" {
  description = "The public subnets' range, where the public load balancer's nodes are: nginx believes X-Forwarded-For from there only."
  type        = string
}

variable "internal_alb_range" {
  description = "The private subnets' range, where the internal load balancer's nodes are: the user service believes X-Real-IP (nginx's word for the shopper's address) from there only."
  type        = string
}

variable "seed_demo" {
  description = "Seed the demo account."
  type        = bool
}

variable "region" {
  description = "AWS region of the SSM parameters the instances read their secrets from."
  type        = string
}

# The listeners of the internal load balancer, from deploy/security-groups.
module "rules" {
  source = "../rules"
}

locals {
  zone = var.zone
  # Callers find a service at its listener on the internal load balancer,
  # under the private DNS name <service>.<zone> (an alias of the balancer):
  # however many instances its Auto Scaling Group holds, one address.
  service_at = { for name, l in module.rules.listeners : name => "${name}.${local.zone}:${l.port}" }

  # Environment of each service, as in docs/architecture.md.
  service_env = {
    user = {
      SEED_DEMO       = tostring(var.seed_demo)
      TRUSTED_PROXIES = var.internal_alb_range
    }
    catalogue = {}
    cart = {
      USER_URL      = "http://${local.service_at.user}"
      CATALOGUE_URL = "http://${local.service_at.catalogue}"
    }
    payment = {
      USER_URL      = "http://${local.service_at.user}"
      CATALOGUE_URL = "http://${local.service_at.catalogue}"
      CART_URL      = "http://${local.service_at.cart}"
    }
  }

  nginx_conf = templatefile("${path.module}/../../../../frontend/nginx.conf.template", {
    listen_port        = 80
    user_upstream      = local.service_at.user
    catalogue_upstream = local.service_at.catalogue
    cart_upstream      = local.service_at.cart
    payment_upstream   = local.service_at.payment
    html_root          = "/var/www/roboshop"
    real_ip_from       = var.alb_range # the ALB's nodes: nginx counts its limits per shopper, not per node
  })

  # The secrets each tier reads at boot from SSM Parameter Store, at
  # /roboshop/<tier>/<NAME>: never in user data. The root module creates
  # exactly these parameters (secret_parameters) and lets each instance's
  # role read its own tier's path only.
  secrets = {
    user                = ["MONGO_URI", "SIGNING_KEY"]
    catalogue           = ["MONGO_URI"]
    cart                = ["REDIS_URL", "SETTLE_TOKEN"]
    payment             = ["MYSQL_DSN", "MYSQL_MIGRATE_DSN", "SETTLE_TOKEN"]
    "user-mongodb"      = ["MONGO_PASSWORD"]
    "catalogue-mongodb" = ["MONGO_PASSWORD"]
    "cart-redis"        = ["REDIS_PASSWORD"]
    "payment-mysql"     = ["MYSQL_PASSWORD", "MYSQL_OWNER_PASSWORD"]
  }
  secret_reader = { for tier, names in local.secrets : tier => templatefile("${path.module}/templates/secret.sh.tftpl", {
    tier = tier, region = var.region
  }) }

  # Every download from the release goes through fetch (templates/fetch.sh.tftpl).
  fetch = templatefile("${path.module}/templates/fetch.sh.tftpl", {
    release_url = var.release_url, release_sums_sha256 = var.release_sums_sha256, region = var.region
  })
}

output "user_data" {
  description = "The user data of each tier, by security-group name."
  sensitive   = true
  value = merge(
    { for name, env in local.service_env : name => templatefile("${path.module}/templates/service.sh.tftpl", {
      name = name, fetch = local.fetch, env = env, secrets = lookup(local.secrets, name, []), secret_reader = lookup(local.secret_reader, name, "")
    }) },
    {
      "user-mongodb" = templatefile("${path.module}/templates/mongodb.sh.tftpl", {
        secret_reader = local.secret_reader["user-mongodb"], database = "users", username = "user"
      })
      "catalogue-mongodb" = templatefile("${path.module}/templates/mongodb.sh.tftpl", {
        secret_reader = local.secret_reader["catalogue-mongodb"], database = "catalogue", username = "catalogue"
      })
      "cart-redis"    = templatefile("${path.module}/templates/redis.sh.tftpl", { secret_reader = local.secret_reader["cart-redis"] })
      "payment-mysql" = templatefile("${path.module}/templates/mysql.sh.tftpl", { secret_reader = local.secret_reader["payment-mysql"] })
      frontend = templatefile("${path.module}/templates/frontend.sh.tftpl", {
        nginx_conf = local.nginx_conf, fetch = local.fetch, upstream_hosts = join(" ", [for at in values(local.service_at) : split(":", at)[0]])
      })
      bastion = templatefile("${path.module}/templates/bastion.sh.tftpl", {})
    }
  )
}

output "secret_parameters" {
  description = "The SSM parameters the instances read, as <tier>/<NAME> (under /roboshop/)."
  value       = toset(flatten([for tier, names in local.secrets : [for n in names : "${tier}/${n}"]]))
}
