# The frontend and the four services run as Auto Scaling Groups. Each group
# launches from a template with the same user data as a single instance would
# boot with, IMDSv2 only and an encrypted volume, across both private subnets,
# and registers its instances in a target group whose health check replaces an
# instance that stops answering. A new launch template version (a new release,
# a changed setting) rolls through the group with an instance refresh that
# starts each replacement before stopping what it replaces.
#
# The services are found through one internal Application Load Balancer with a
# listener per service (deploy/security-groups/internal-alb.yaml says which
# caller may reach which listener); <service>.<dns_zone> is an alias of it.

locals {
  # service => { balancer, port (its listener), target_port }, from the YAML.
  listeners = module.rules.listeners
}

resource "aws_lb" "internal" {
  name                       = "roboshop-internal"
  load_balancer_type         = "application"
  internal                   = true
  security_groups            = [aws_security_group.group["internal-alb"].id]
  subnets                    = [aws_subnet.private.id, aws_subnet.private_b.id]
  drop_invalid_header_fields = true
  lifecycle {
    precondition {
      condition     = alltrue([for l in values(local.listeners) : l.balancer == "internal-alb"]) && length(local.listeners) == 4
      error_message = "deploy/security-groups must put exactly the four services behind internal-alb's listeners."
    }
  }
}

resource "aws_lb_target_group" "service" {
  for_each             = local.listeners
  name                 = "roboshop-${each.key}"
  port                 = each.value.target_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30
  health_check {
    path                = "/readyz" # ready: its datastore answers
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "service" {
  for_each          = local.listeners
  load_balancer_arn = aws_lb.internal.arn
  port              = each.value.port
  protocol          = "HTTP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }
}

resource "aws_route53_record" "service" {
  for_each = local.listeners
  zone_id  = aws_route53_zone.internal.zone_id
  name     = "${each.key}.${var.dns_zone}"
  type     = "A"
  alias {
    name                   = aws_lb.internal.dns_name
    zone_id                = aws_lb.internal.zone_id
    evaluate_target_health = false
  }
}

resource "aws_launch_template" "tier" {
  for_each               = local.scaled_tiers
  name_prefix            = "roboshop-${each.key}-"
  image_id               = data.aws_ami.debian.id
  instance_type          = local.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.group[each.key].id]
  user_data              = base64encode(module.userdata.user_data[each.key])
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.tier[each.key].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = data.aws_ami.debian.root_device_name
    ebs {
      encrypted             = true
      volume_type           = "gp3"
      volume_size           = 8
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "roboshop-${each.key}", Tier = each.key, Project = "roboshop" }
  }
  tag_specifications {
    resource_type = "volume"
    tags          = { Name = "roboshop-${each.key}", Tier = each.key, Project = "roboshop" }
  }
}

resource "aws_autoscaling_group" "tier" {
  for_each            = local.scaled_tiers
  name_prefix         = "roboshop-${each.key}-"
  min_size            = lookup(var.desired_count, each.key, 1)
  desired_capacity    = lookup(var.desired_count, each.key, 1)
  max_size            = 2 * lookup(var.desired_count, each.key, 1) # room for a rolling release's replacements
  vpc_zone_identifier = [aws_subnet.private.id, aws_subnet.private_b.id]
  target_group_arns   = [each.key == "frontend" ? aws_lb_target_group.frontend.arn : aws_lb_target_group.service[each.key].arn]

  # The load balancer's health check decides: an instance that stops
  # answering /readyz (/healthz for nginx) is replaced, after a first boot's
  # grace for installing.
  health_check_type         = "ELB"
  health_check_grace_period = 300
  default_instance_warmup   = 60

  launch_template {
    id      = aws_launch_template.tier[each.key].id
    version = aws_launch_template.tier[each.key].latest_version # a new version starts the refresh
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100 # never below the desired count while rolling...
      max_healthy_percentage = 200 # ...because replacements start first
      auto_rollback          = true
    }
  }

  # User data reads these at first boot: they must exist before it runs.
  depends_on = [aws_ssm_parameter.secret, aws_iam_role_policy.tier, aws_s3_object.release, aws_vpc_endpoint.s3,
  aws_route53_record.service, aws_route53_record.tier, aws_nat_gateway.main, aws_route_table_association.private_b]
}
