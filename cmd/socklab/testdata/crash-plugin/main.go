// Command crash-plugin is a lab plugin that panics mid-run, for the exit code tests.
package main

import "github.com/socklab/socklab/labs/plugins/lab"

func main() {
	lab.Main(lab.Spec{Name: "crash", Summary: "a lab plugin that panics mid-run", Hosts: []string{"server"},
		Checks: []lab.Check{{ID: "never", Description: "never reached"}}}, func(t *lab.T) {
		t.Host("server").Socket(lab.AF_INET, lab.SOCK_STREAM)
		panic("boom")
	})
}
