// Package web holds the browser client: its TypeScript source (built by
// Vite, see package.json) and the built assets in dist/, embedded here so
// that the binary serves the client without Node on the machine.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist is the built client: index.html at its root, hashed files under
// assets/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path; Sub cannot fail on it
	}
	return sub
}
