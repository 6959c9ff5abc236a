// Command nginxexporter is the stand-in for the nginx/nginx-prometheus-exporter
// image (standins/README.md says why it exists): it reads nginx's stub_status
// page at every scrape and exports the same metrics under the same names, with
// the same flags, as the upstream exporter does for open-source nginx.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	scrapeURI := flag.String("nginx.scrape-uri", "http://127.0.0.1:8080/stub_status", "the URL of nginx's stub_status page")
	listen := flag.String("web.listen-address", ":9113", "address to serve the metrics on")
	path := flag.String("web.telemetry-path", "/metrics", "path of the metrics")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *scrapeURI, *listen, *path); err != nil {
		slog.Error("nginxexporter", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, scrapeURI, listen, path string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{uri: scrapeURI, client: &http.Client{Timeout: 5 * time.Second}})
	mux := http.NewServeMux()
	mux.Handle(path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("serving nginx's stub_status as metrics", "listen", listen, "nginx", scrapeURI)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// status is what stub_status reports.
type status struct {
	active, accepts, handled, requests, reading, writing, waiting float64
}

// parseStatus reads stub_status's four lines:
//
//	Active connections: 2
//	server accepts handled requests
//	 16 16 31
//	Reading: 0 Writing: 1 Waiting: 1
func parseStatus(body string) (status, error) {
	var s status
	_, err := fmt.Sscanf(body, "Active connections: %g\nserver accepts handled requests\n %g %g %g\nReading: %g Writing: %g Waiting: %g",
		&s.active, &s.accepts, &s.handled, &s.requests, &s.reading, &s.writing, &s.waiting)
	if err != nil {
		return status{}, fmt.Errorf("not a stub_status page: %w", err)
	}
	return s, nil
}

func desc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

var (
	upDesc       = desc("nginx_up", "Status of the last metric scrape")
	activeDesc   = desc("nginx_connections_active", "Active client connections")
	acceptedDesc = desc("nginx_connections_accepted", "Accepted client connections")
	handledDesc  = desc("nginx_connections_handled", "Handled client connections")
	readingDesc  = desc("nginx_connections_reading", "Connections where NGINX is reading the request header")
	writingDesc  = desc("nginx_connections_writing", "Connections where NGINX is writing the response back to the client")
	waitingDesc  = desc("nginx_connections_waiting", "Idle client connections")
	requestsDesc = desc("nginx_http_requests_total", "Total http requests")
)

// collector scrapes nginx at every scrape of its own; nginx_up says whether
// that worked, as upstream's does.
type collector struct {
	uri    string
	client *http.Client
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, activeDesc, acceptedDesc, handledDesc, readingDesc, writingDesc, waitingDesc, requestsDesc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.scrape()
	if err != nil {
		slog.Warn("scraping nginx", "err", err)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, s.active)
	ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, s.accepts)
	ch <- prometheus.MustNewConstMetric(handledDesc, prometheus.CounterValue, s.handled)
	ch <- prometheus.MustNewConstMetric(readingDesc, prometheus.GaugeValue, s.reading)
	ch <- prometheus.MustNewConstMetric(writingDesc, prometheus.GaugeValue, s.writing)
	ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, s.waiting)
	ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, s.requests)
}

func (c *collector) scrape() (status, error) {
	resp, err := c.client.Get(c.uri)
	if err != nil {
		return status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return status{}, fmt.Errorf("%s answered %s", c.uri, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return status{}, err
	}
	return parseStatus(string(body))
}
