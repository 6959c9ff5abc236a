// Package ec2 holds the checks of what an EC2 deployment runs (tests only):
// Terraform formatted and its rules module equal to the security groups, the
// release scripts/release.sh makes, and the user data each tier boots with,
// whose downloads are run for real against a local HTTPS release.
package ec2
