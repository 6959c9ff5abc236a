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
  description = "ssh -J admin@<this> admin@<tier>.<dns_zone>"
  value       = aws_instance.tier["bastion"].public_ip
}

output "private_addresses" {
  description = "Private address of every tier, for the reachability checks in deploy/README.md."
  value       = { for name, i in aws_instance.tier : name => i.private_ip }
}
