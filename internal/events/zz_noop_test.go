package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/testenv"
	"github.com/dualhook/dualhook/worker"
)

func noopAct(ctx context.Context, i int) (int, error) { return i, nil }

func noopWF(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var fs []workflow.Future
	for i := range n {
		fs = append(fs, workflow.ExecuteActivity(ctx, noopAct, i))
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkZZNoop(b *testing.B) {
	for _, codec := range []bool{true, false} {
		var c client.Client
		if codec {
			c = testenv.Temporal(b)
		} else {
			var err error
			c, err = client.Dial(client.Options{HostPort: testenv.TemporalAddress(b)})
			if err != nil {
				b.Fatal(err)
			}
		}
		q := testenv.TaskQueue(b)
		w := sdkworker.New(c, q, worker.Options())
		w.RegisterWorkflow(noopWF)
		w.RegisterActivity(noopAct)
		w.Start()
		start := time.Now()
		var runs []client.WorkflowRun
		for range 4 {
			r, _ := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: q}, noopWF, 250)
			runs = append(runs, r)
		}
		for _, r := range runs {
			if err := r.Get(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}
		fmt.Printf("codec=%v: 1000 no-op activities in 4 workflows: %.0f/s\n", codec, 1000/time.Since(start).Seconds())
		w.Stop()
	}
}
