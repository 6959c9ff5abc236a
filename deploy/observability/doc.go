// Package observability holds no code: its tests check the configuration of
// `docker compose --profile observability` beside them: Prometheus's
// configuration and alert rules with promtool (and the rules' unit tests),
// and Grafana's provisioning statically, since Grafana cannot be built here.
// frontend's TestDashboardsAndAlertsAskForRealMetrics runs every query
// against a real Prometheus scraping the real services.
package observability
