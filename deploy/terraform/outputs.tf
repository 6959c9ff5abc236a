output "frontend_url" {
  description = "Open this in a browser."
  value       = local.https ? "https://${var.domain_name}/" : "http://${aws_lb.shop.dns_name}/"
}

output "warning" {
  description = "What is unsafe about this deployment, if anything."
  value       = local.https ? "none" : <<-EOT
    WARNING: no domain_name, so the shop is served over plain HTTP: passwords,
    tokens and card numbers cross the internet in clear. Set domain_name and
    route53_zone (a Route 53 public zone you own) for HTTPS.
  EOT
}

output "bastion_address" {
  description = "ssh -J admin@<this> admin@<address>: a datastore's <tier>.<dns_zone>, or an instance of a group (auto_scaling_groups)."
  value       = aws_instance.tier["bastion"].public_ip
}

output "private_addresses" {
  description = "Private address of each single instance (the datastores and the bastion), for the reachability checks in deploy/README.md."
  value       = { for name, i in aws_instance.tier : name => i.private_ip }
}

output "auto_scaling_groups" {
  description = "The Auto Scaling Group of the frontend and of each service: aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names <name> lists its instances."
  value       = { for name, g in aws_autoscaling_group.tier : name => g.name }
}

output "services_load_balancer" {
  description = "The internal load balancer the services are found through, as <service>.<dns_zone>:<its listener>."
  value       = { for name, l in local.listeners : name => "${name}.${var.dns_zone}:${l.port}" }
}
