// Command kaito-controlplane is one binary holding the parts of a Kubernetes control plane that
// kaito-py's tests and `make cluster` run: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kubectl. It picks the component from the name it was started under (the
// build script links each name to it) or from its first argument.
//
// Why one binary: the four Kubernetes programs share most of their packages, so one link step
// (about a minute each on two cores) and one file on disk instead of five.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}

func run(name string, args []string) int {
	switch name {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
		return 0
	case "kube-apiserver":
		os.Args = append([]string{name}, args...)
		return cli.Run(apiserver.NewAPIServerCommand())
	case "kube-controller-manager":
		os.Args = append([]string{name}, args...)
		return cli.Run(controllermanager.NewControllerManagerCommand())
	case "kube-scheduler":
		os.Args = append([]string{name}, args...)
		return cli.Run(scheduler.NewSchedulerCommand())
	case "kubectl":
		os.Args = append([]string{name}, args...)
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "usage: kaito-controlplane {%s} [ARGS...]\n", strings.Join(components, "|"))
	return 2
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "kaito-controlplane" || !contains(name) {
		if len(args) == 0 {
			os.Exit(run("", nil))
		}
		name, args = args[0], args[1:]
	}
	os.Exit(run(name, args))
}

func contains(name string) bool {
	for _, c := range components {
		if c == name {
			return true
		}
	}
	return false
}
