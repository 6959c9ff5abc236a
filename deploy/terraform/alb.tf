# The public entry: an Application Load Balancer in the alb security group,
# forwarding to the frontend's Auto Scaling Group (in the private subnets,
# admitting only the ALB).
# With domain_name, it terminates HTTPS with an ACM certificate validated
# through DNS in the Route 53 public zone route53_zone, and answers HTTP with a
# redirect; without, it serves plain HTTP, and the output says so loudly.

locals {
  https = var.domain_name != null
}

# Accepted (AWS-0053): the shop's one public entry: only this load balancer accepts the internet (deploy/security-groups/alb.yaml).
#trivy:ignore:AWS-0053
resource "aws_lb" "shop" {
  name                       = "roboshop"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.group["alb"].id]
  subnets                    = [aws_subnet.public.id, aws_subnet.public_b.id]
  drop_invalid_header_fields = true
}

# The frontend's Auto Scaling Group registers its instances here (scaling.tf).
# The probe is nginx's own /healthz: the services behind it have their own
# target groups and health checks.
resource "aws_lb_target_group" "frontend" {
  name                 = "roboshop-frontend"
  port                 = 80
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

data "aws_route53_zone" "public" {
  count        = local.https ? 1 : 0
  name         = var.route53_zone
  private_zone = false
}

resource "aws_acm_certificate" "shop" {
  count             = local.https ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.https ? {
    for o in aws_acm_certificate.shop[0].domain_validation_options : o.domain_name => o
  } : {}
  zone_id         = data.aws_route53_zone.public[0].zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "shop" {
  count                   = local.https ? 1 : 0
  certificate_arn         = aws_acm_certificate.shop[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.shop.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.shop[0].certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.frontend.arn
  }
}

# With a domain, HTTP only redirects; without one, it is the shop.
# Accepted (AWS-0054): with domain_name it only redirects to HTTPS; without one the plan is refused unless allow_plain_http opts in (modules/inputs).
#trivy:ignore:AWS-0054
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.shop.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.frontend.arn
    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }
}

# IPv4 only: the VPC has no IPv6 range, so the ALB is not dual-stack (the alb
# group's ::/0 rules take effect once it is).
resource "aws_route53_record" "shop" {
  count   = local.https ? 1 : 0
  zone_id = data.aws_route53_zone.public[0].zone_id
  name    = var.domain_name
  type    = "A"
  alias {
    name                   = aws_lb.shop.dns_name
    zone_id                = aws_lb.shop.zone_id
    evaluate_target_health = true
  }
}
