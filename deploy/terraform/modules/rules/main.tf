# Provider-free: turns deploy/security-groups/*.yaml into the flat rule list the
# root module creates one rule resource per entry from. The Go loader
# (deploy/sg) builds the same list; a test checks that the two agree.

variable "definitions_dir" {
  description = "Directory of the security-group YAML files."
  type        = string
  default     = null
}

locals {
  dir    = coalesce(var.definitions_dir, "${path.module}/../../../security-groups")
  groups = { for f in fileset(local.dir, "*.yaml") : trimsuffix(f, ".yaml") => yamldecode(file("${local.dir}/${f}")) }

  rules = merge([
    for name, g in local.groups : merge([
      for direction in ["ingress", "egress"] : {
        for i, r in try(g[direction], []) : "${name}/${direction}/${i}" => {
          key       = "${name}/${direction}/${i}"
          group     = name
          direction = direction
          protocol  = try(r.protocol, "tcp")
          # An icmp rule's type and code take the ports' places, as in AWS's
          # API (code -1: every code).
          from_port     = try(r.protocol, "tcp") == "icmp" ? r.icmp_type : r.port
          to_port       = try(r.protocol, "tcp") == "icmp" ? try(r.icmp_code, -1) : try(r.to_port, r.port)
          peer_group    = try(r.group, "")
          cidr          = try(r.cidr, "")
          cidr_variable = try(r.cidr_variable, "")
          description   = r.description
          listener      = try(r.listener, 0)
        }
      }
    ]...)
  ]...)
}

output "groups" {
  description = "Every group with its description and tier."
  value       = { for name, g in local.groups : name => { description = g.description, tier = g.tier } }
}

output "listeners" {
  description = "Where callers find each group that sits behind a balancer, by that group: the balancer, its listener port, and the port the listener forwards to (the balancer's egress rules with a listener)."
  value = {
    for r in values(local.rules) : r.peer_group => { balancer = r.group, port = r.listener, target_port = r.from_port }
    if r.direction == "egress" && r.listener != 0
  }
}

output "rules" {
  description = "Every rule, keyed group/direction/index."
  value       = local.rules
}
