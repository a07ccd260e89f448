package realtime_test

import (
	"os"
	"testing"

	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) {
	stop := storetest.StopOnInterrupt(redistest.StopShared)
	code := m.Run()
	stop()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}
