//go:build cuda

package cuda

// The few pointer conversions the bindings need, in one place.

import "unsafe"

// nextByte is the byte after p in a C string.
func nextByte(p *byte) *byte { return (*byte)(unsafe.Add(unsafe.Pointer(p), 1)) }

// hostPointer is managed memory's address as a Go pointer: managed memory
// has one address on the host and the device. The uint64 is reinterpreted
// (not converted from a uintptr) so vet's unsafe.Pointer rules hold.
func hostPointer(p DevicePtr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// ptrOf is the address of b's first byte, for a call that reads it while
// it runs (b stays reachable through the caller's argument).
func ptrOf(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// floatsAt is n float32s at the managed address p, as a Go slice: the GC
// ignores pointers outside its heap, so the slice is an ordinary one.
func floatsAt(p DevicePtr, n int) []float32 { return unsafe.Slice((*float32)(hostPointer(p)), n) }

// floatsPtr is the address of s's first element, for a copy.
func floatsPtr(s []float32) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }
