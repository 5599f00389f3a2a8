// Package architecture holds tests of the shape of the code rather than its
// behaviour: imports point one way through the layers that
// docs/architecture.md draws, controllers do not import each other, nothing
// above the providers names one, and the functions of the core and the
// controllers stay short enough to hold in one's head.
package architecture
