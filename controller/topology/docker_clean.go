package topology

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// CleanDocker removes the containers and networks that Docker runs left when their
// owner died without closing them: those whose socklab.owner label names an owner that
// no longer runs. It never touches a live owner's, nor anything without that label (or
// with one it cannot read). It returns the names of what it removed, containers first.
func CleanDocker(ctx context.Context) ([]string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	owned := filters.NewArgs(filters.Arg("label", LabelOwner))
	var removed []string
	var errs []error
	containers, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: owned})
	if err != nil {
		return nil, fmt.Errorf("docker clean: list containers: %w", err)
	}
	for _, c := range containers {
		if !deadOwner(c.Labels) {
			continue
		}
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if err := removeContainer(ctx, cli, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("docker clean: %s: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	// Networks after containers: the engine removes no network a container is on.
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: owned})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("docker clean: list networks: %w", err))...)
	}
	for _, n := range nets {
		if !deadOwner(n.Labels) {
			continue
		}
		if err := cli.NetworkRemove(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("docker clean: remove network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// deadOwner reports whether labels name an owner, readably, that no longer runs.
func deadOwner(labels map[string]string) bool {
	v, ok := labels[LabelOwner]
	if !ok {
		return false
	}
	o, err := ParseOwner(v)
	return err == nil && !o.Alive()
}
