data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "roboshop" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id
}

# The public subnets are the two halves of one range, the private ones of
# another: each range is exactly where one load balancer's nodes can be, the
# only address each proxy's followers believe a client's address from
# (instances.tf).
locals {
  public_range  = cidrsubnet(var.vpc_cidr, 7, 0) # x.x.0.0/23 in a /16
  private_range = cidrsubnet(var.vpc_cidr, 7, 5) # x.x.10.0/23 in a /16
}

resource "aws_subnet" "public" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(local.public_range, 1, 0)
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = { Name = "roboshop-public" }
}

# A load balancer needs subnets in two zones: this one holds only its nodes.
resource "aws_subnet" "public_b" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(local.public_range, 1, 1)
  availability_zone = data.aws_availability_zones.available.names[1]
  tags              = { Name = "roboshop-public-b" }
}

resource "aws_subnet" "private" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(local.private_range, 1, 0)
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = { Name = "roboshop-private" }
}

# The Auto Scaling Groups and the internal load balancer span both private
# subnets (two zones); the datastores live in the first.
resource "aws_subnet" "private_b" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(local.private_range, 1, 1)
  availability_zone = data.aws_availability_zones.available.names[1]
  tags              = { Name = "roboshop-private-b" }
}

resource "aws_eip" "nat" {
  domain = "vpc"
}

# Private instances reach package mirrors and the release URL through NAT only.
resource "aws_nat_gateway" "main" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public.id
  depends_on    = [aws_internet_gateway.main]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main.id
  }
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "public_b" {
  subnet_id      = aws_subnet.public_b.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

# One NAT gateway, in the first zone, for both private subnets: it carries
# only first-boot downloads, and a second costs as much again.
resource "aws_route_table_association" "private_b" {
  subnet_id      = aws_subnet.private_b.id
  route_table_id = aws_route_table.private.id
}

resource "aws_route53_zone" "internal" {
  name = var.dns_zone
  vpc {
    vpc_id = aws_vpc.main.id
  }
}

# The single instances by name; the services' names are aliases of the
# internal load balancer (scaling.tf).
resource "aws_route53_record" "tier" {
  for_each = aws_instance.tier
  zone_id  = aws_route53_zone.internal.zone_id
  name     = "${each.key}.${var.dns_zone}"
  type     = "A"
  ttl      = 60
  records  = [each.value.private_ip]
}
