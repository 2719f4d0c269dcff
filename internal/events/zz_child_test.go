package events_test

const childWorkerEnv = "DUALHOOK_EVENTS_TEST_CHILD_WORKER"

func runChildWorker() {}
