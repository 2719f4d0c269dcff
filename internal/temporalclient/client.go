// Package temporalclient connects to Temporal the same way in every process (API, worker, CLI,
// tests): the configured address and namespace, the encrypting data converter, structured logs,
// and the search attributes operators filter by (SPEC §13).
package temporalclient

import (
	"context"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/payloadcodec"
)

// SearchAttributes are the custom Keyword attributes of SPEC §13, so an operator finds any
// tenant's workflows in the Temporal UI.
var SearchAttributes = []string{"PartnerId", "TenantId", "SessionId", "ConnectionId", "WabaId", "EventType"}

// Options says where Temporal is.
type Options struct {
	Address   string
	Namespace string
	Ring      *keyring.Ring
	Logger    *slog.Logger
	Metrics   client.MetricsHandler
}

// Dial connects and checks the server answers.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       o.Address,
		Namespace:      o.Namespace,
		DataConverter:  payloadcodec.DataConverter(o.Ring),
		Logger:         log.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		MetricsHandler: o.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("temporal: connect to %s: %w", o.Address, err)
	}
	return c, nil
}

// RegisterSearchAttributes adds the attributes that are missing. Safe to run from every worker
// start: existing attributes are left alone.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	existing, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("temporal: list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range SearchAttributes {
		if _, ok := existing.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("temporal: add search attributes: %w", err)
	}
	return nil
}

// DevServerArgs are the `temporal server start-dev` flags every local server of this project
// uses (dev stack and tests): the search attributes, and the dynamic config that enables eager
// workflow start and eager activity execution (worth ~40% delivery throughput on 2 cores, see
// shared/reference/toolchain.md).
func DevServerArgs() []string {
	args := []string{
		"--dynamic-config-value", "system.enableEagerWorkflowStart=true",
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		"--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
		"--dynamic-config-value", "frontend.enableExecuteMultiOperation=true",
	}
	for _, name := range SearchAttributes {
		args = append(args, "--search-attribute", name+"=Keyword")
	}
	return args
}
