// Command etcd is upstream etcd's server (go.etcd.io/etcd/server/v3, whose
// main.go is exactly this). It lives here only so that `go build -o DIR/`
// names the binary "etcd" instead of "server" (Go strips the /v3 suffix).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
