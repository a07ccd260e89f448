package realtime_test

import (
	"os"
	"testing"

	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}
