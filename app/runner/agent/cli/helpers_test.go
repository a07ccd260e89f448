package cli

import (
	"fmt"
	"strconv"
	"strings"
)

func fmtSscan(s string, pid *int) (int, error) { return fmt.Sscan(strings.TrimSpace(s), pid) }
func itoa(n int) string                        { return strconv.Itoa(n) }

// containsZombie reads /proc/PID/stat's state field.
func containsZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
