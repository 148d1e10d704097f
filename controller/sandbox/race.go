//go:build race

package sandbox

// addressFactor is how many bytes of address space a byte of a lab's heap may take, for
// the child's last-resort limit: the race detector maps shadow memory beside the heap.
const addressFactor = 8
