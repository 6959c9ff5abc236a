data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

resource "random_password" "redis" {
  length  = 32
  special = false
}

resource "random_password" "mysql" {
  length  = 32
  special = false
}

locals {
  zone = var.dns_zone
  # Environment of each service, as in docs/architecture.md; peers are found by private DNS name.
  service_env = {
    user = {
      MONGO_URI = "mongodb://user-mongodb.${local.zone}:27017/users"
      SEED_DEMO = tostring(var.seed_demo)
    }
    catalogue = {
      MONGO_URI = "mongodb://catalogue-mongodb.${local.zone}:27017/catalogue"
    }
    cart = {
      REDIS_URL     = "redis://:${random_password.redis.result}@cart-redis.${local.zone}:6379/0"
      USER_URL      = "http://user.${local.zone}:8080"
      CATALOGUE_URL = "http://catalogue.${local.zone}:8080"
    }
    payment = {
      MYSQL_DSN     = "roboshop:${random_password.mysql.result}@tcp(payment-mysql.${local.zone}:3306)/payment?parseTime=true"
      USER_URL      = "http://user.${local.zone}:8080"
      CATALOGUE_URL = "http://catalogue.${local.zone}:8080"
      CART_URL      = "http://cart.${local.zone}:8080"
    }
  }

  nginx_conf = templatefile("${path.module}/../../frontend/nginx.conf.template", {
    listen_port        = 80
    user_upstream      = "user.${local.zone}:8080"
    catalogue_upstream = "catalogue.${local.zone}:8080"
    cart_upstream      = "cart.${local.zone}:8080"
    payment_upstream   = "payment.${local.zone}:8080"
    html_root          = "/var/www/roboshop"
    real_ip_from       = "unix:" # shoppers reach nginx directly: no proxy to believe
  })

  user_data = merge(
    { for name, env in local.service_env : name => templatefile("${path.module}/templates/service.sh.tftpl", {
      name = name, release_url = var.release_url, env = env
    }) },
    {
      "user-mongodb"      = templatefile("${path.module}/templates/mongodb.sh.tftpl", {})
      "catalogue-mongodb" = templatefile("${path.module}/templates/mongodb.sh.tftpl", {})
      "cart-redis"        = templatefile("${path.module}/templates/redis.sh.tftpl", { password = random_password.redis.result })
      "payment-mysql"     = templatefile("${path.module}/templates/mysql.sh.tftpl", { password = random_password.mysql.result })
      frontend            = templatefile("${path.module}/templates/frontend.sh.tftpl", { nginx_conf = local.nginx_conf, release_url = var.release_url })
      bastion             = templatefile("${path.module}/templates/bastion.sh.tftpl", {})
    }
  )

  public_tiers = toset(["frontend", "bastion"])
}

# One instance per tier, each in its own security group.
resource "aws_instance" "tier" {
  for_each                    = module.rules.groups
  ami                         = data.aws_ami.debian.id
  instance_type               = var.instance_type
  key_name                    = var.key_name
  subnet_id                   = contains(local.public_tiers, each.key) ? aws_subnet.public.id : aws_subnet.private.id
  associate_public_ip_address = contains(local.public_tiers, each.key)
  vpc_security_group_ids      = [aws_security_group.group[each.key].id]
  user_data                   = local.user_data[each.key]
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
}
