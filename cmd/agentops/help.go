package agentops

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// setUsage gives the command tree a usage text whose flag lists come from
// flagUsages instead of pflag's: pflag takes a word in backticks in the
// help text for the flag's type (`--sandbox agentops runner`) and writes
// booleans as --flag[=true|false], and neither names the environment
// variable.
func setUsage(root *cobra.Command) {
	text := strings.NewReplacer(
		".LocalFlags.FlagUsages", "flagUsages .LocalFlags",
		".InheritedFlags.FlagUsages", "flagUsages .InheritedFlags",
	).Replace(root.UsageTemplate())
	tmpl := template.Must(template.New("usage").Funcs(template.FuncMap{
		"flagUsages":              flagUsages,
		"trimTrailingWhitespaces": func(s string) string { return strings.TrimRight(s, " \t\r\n") },
		"rpad":                    func(s string, n int) string { return fmt.Sprintf("%-*s", n, s) },
	}).Parse(text))
	root.SetUsageFunc(func(c *cobra.Command) error {
		return tmpl.Execute(c.OutOrStderr(), c)
	})
}

// flagUsages lists the flags of fs, one a line: name, value type (none
// for booleans), help text, default, and for settings the environment
// variable that sets them.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, right string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		if t := typeName(f.Value.Type()); t != "" {
			left += " " + t
		}
		right := f.Usage
		if !zeroDefault(f) {
			if f.Value.Type() == "string" {
				right += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				right += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		if f.Annotations[envAnnotation] != nil {
			right += " [$" + EnvName(f.Name) + "]"
		}
		width = max(width, len(left))
		rows = append(rows, row{left, right})
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.left, r.right)
	}
	return b.String()
}

func typeName(t string) string {
	switch t {
	case "bool":
		return ""
	case "stringSlice", "stringArray":
		return "strings"
	case "int64":
		return "int"
	case "float64":
		return "float"
	}
	return t
}

func zeroDefault(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]", "<nil>":
		return true
	}
	return false
}
