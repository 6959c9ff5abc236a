package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

// metrics prints a service's /metrics, asked from inside its own namespace:
// the port serves only its callers, and nginx never proxies /metrics.
func metrics(ctx context.Context, cfg config, service string, out io.Writer) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	if !slices.Contains(services(), service) {
		return fmt.Errorf("metrics of what? lab metrics user|catalogue|cart|payment")
	}
	resp, err := l.httpClientIn(service, 5*time.Second, 2*time.Second).Get("http://" + net.JoinHostPort(l.addr(service).String(), strconv.Itoa(topology.ServicePort)) + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /metrics: status %d", service, resp.StatusCode)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
