output "frontend_url" {
  description = "Open this in a browser."
  value       = "http://${aws_instance.tier["frontend"].public_ip}/"
}

output "bastion_address" {
  description = "ssh -J admin@<this> admin@<tier>.<dns_zone>"
  value       = aws_instance.tier["bastion"].public_ip
}

output "private_addresses" {
  description = "Private address of every tier, for the reachability checks in deploy/README.md."
  value       = { for name, i in aws_instance.tier : name => i.private_ip }
}
