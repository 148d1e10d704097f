//go:build !race

package sandbox

// addressFactor is how many bytes of address space a byte of a lab's heap may take, for
// the child's last-resort limit: the runtime reserves ahead of what it uses.
const addressFactor = 2
