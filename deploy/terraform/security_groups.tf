# Security groups come from deploy/security-groups/*.yaml through the
# provider-free rules module: one group per file, one rule resource per rule.

module "rules" {
  source = "./modules/rules"
}

locals {
  ingress_rules = { for k, r in module.rules.rules : k => r if r.direction == "ingress" }
  egress_rules  = { for k, r in module.rules.rules : k => r if r.direction == "egress" }
}

# The VPC's default group keeps no rules, so anything launched without an
# explicit group can talk to nothing (CIS EC2.2).
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
}

# Terraform removes AWS's implicit allow-all egress from groups it creates; the
# only egress is what the YAML declares.
resource "aws_security_group" "group" {
  for_each    = module.rules.groups
  name        = "roboshop-${each.key}"
  description = each.value.description
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "roboshop-${each.key}", Tier = each.value.tier }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "rule" {
  for_each                     = local.ingress_rules
  security_group_id            = aws_security_group.group[each.value.group].id
  description                  = each.value.description
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from_port
  to_port                      = each.value.to_port
  referenced_security_group_id = each.value.peer_group != "" ? aws_security_group.group[each.value.peer_group].id : null
  cidr_ipv4                    = each.value.cidr_variable != "" ? var.admin_cidr : (can(cidrnetmask(each.value.cidr)) ? each.value.cidr : null)
  cidr_ipv6                    = each.value.cidr != "" && !can(cidrnetmask(each.value.cidr)) ? each.value.cidr : null
}

resource "aws_vpc_security_group_egress_rule" "rule" {
  for_each                     = local.egress_rules
  security_group_id            = aws_security_group.group[each.value.group].id
  description                  = each.value.description
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from_port
  to_port                      = each.value.to_port
  referenced_security_group_id = each.value.peer_group != "" ? aws_security_group.group[each.value.peer_group].id : null
  cidr_ipv4                    = can(cidrnetmask(each.value.cidr)) ? each.value.cidr : null
  cidr_ipv6                    = each.value.cidr != "" && !can(cidrnetmask(each.value.cidr)) ? each.value.cidr : null
}
