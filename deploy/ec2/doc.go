// Package ec2 holds the checks of what an EC2 deployment runs (tests only):
// Terraform formatted and its rules module equal to the security groups, the
// release scripts/release.sh makes, and the user data each tier boots with:
// its downloads run for real against a local HTTPS release, its systemd units
// through systemd-analyze verify, its nginx configuration through nginx -t
// (each in a mount namespace of the test's own).
package ec2
