package weights

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// What a state-dict pickle may name, and what each name turns into. Nothing
// here runs code from the file: the rebuild functions only check their
// arguments and record where a tensor's values lie in which storage.

// maxDims caps a tensor's rank (PyTorch allows 64).
const maxDims = 64

// allowedGlobal says whether the pickle may refer to module.name.
func allowedGlobal(module, name string) bool {
	switch module {
	case "collections":
		return name == "OrderedDict"
	case "torch._utils":
		return name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" || name == "_rebuild_parameter"
	case "torch":
		_, ok := storageDTypes[name]
		return ok
	}
	return false
}

// findClass is the Unpickler's FindClass hook. (gopickle resolves
// collections.OrderedDict, __builtin__.object and copy_reg._reconstructor
// itself, to inert Go values; scanPickle refuses the last two by name in
// GLOBAL, and the state-dict walk refuses any value that is not a tensor.)
func findClass(module, name string) (any, error) {
	if !allowedGlobal(module, name) {
		return nil, hookError{fmt.Errorf("pickle refers to %s.%s: refusing, not a tensor or storage rebuild function",
			clip(module, 100), clip(name, 100))}
	}
	switch module {
	case "collections":
		return &types.OrderedDictClass{}, nil
	case "torch":
		return storageClass{name: name, dtype: storageDTypes[name]}, nil
	}
	switch name {
	case "_rebuild_tensor_v2":
		return rebuildTensorV2{}, nil
	case "_rebuild_tensor":
		return rebuildTensor{}, nil
	}
	return rebuildParameter{}, nil
}

// storageClass stands for torch.FloatStorage and friends. It is only ever an
// element of a persistent id, never called.
type storageClass struct {
	name  string
	dtype DType
}

// tensorRef is what the rebuild functions return: a strided view of a storage,
// already checked to lie inside it.
type tensorRef struct {
	st     *storage
	offset int
	shape  []int
	stride []int
	numel  int
}

// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata])
type rebuildTensorV2 struct{}

func (rebuildTensorV2) Call(args ...any) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, hookError{fmt.Errorf("_rebuild_tensor_v2 called with %d arguments, want 6 or 7", len(args))}
	}
	return newTensorRef(args[0], args[1], args[2], args[3])
}

// torch._utils._rebuild_tensor(storage, storage_offset, size, stride), from
// PyTorch before 1.0.
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) != 4 {
		return nil, hookError{fmt.Errorf("_rebuild_tensor called with %d arguments, want 4", len(args))}
	}
	return newTensorRef(args[0], args[1], args[2], args[3])
}

// torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): an
// nn.Parameter is just its tensor here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, hookError{fmt.Errorf("_rebuild_parameter called with %d arguments, want 3", len(args))}
	}
	t, ok := args[0].(*tensorRef)
	if !ok {
		return nil, hookError{fmt.Errorf("_rebuild_parameter of %s, not a tensor", describe(args[0]))}
	}
	return t, nil
}

func newTensorRef(stArg, offArg, sizeArg, strideArg any) (any, error) {
	ref, err := checkTensorRef(stArg, offArg, sizeArg, strideArg)
	if err != nil {
		return nil, hookError{err}
	}
	return ref, nil
}

func checkTensorRef(stArg, offArg, sizeArg, strideArg any) (*tensorRef, error) {
	st, ok := stArg.(*storage)
	if !ok {
		return nil, fmt.Errorf("tensor rebuilt from %s, not a storage", describe(stArg))
	}
	offset, ok := offArg.(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("storage %s: tensor offset %s is not a non-negative integer", st.key, describe(offArg))
	}
	shape, err := intTuple(sizeArg)
	if err != nil {
		return nil, fmt.Errorf("storage %s: tensor size: %w", st.key, err)
	}
	stride, err := intTuple(strideArg)
	if err != nil {
		return nil, fmt.Errorf("storage %s: tensor stride: %w", st.key, err)
	}
	if len(stride) != len(shape) {
		return nil, fmt.Errorf("storage %s: tensor size %v but stride %v", st.key, shape, stride)
	}
	n, ok := numElements(shape)
	if !ok {
		return nil, fmt.Errorf("storage %s: tensor size %v overflows", st.key, shape)
	}
	// The last element touched is offset + Σ (size-1)·stride; it must lie in the storage.
	last := offset
	if n > 0 {
		for i, d := range shape {
			step, ok1 := mul(d-1, stride[i])
			var ok2 bool
			last, ok2 = add(last, step)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("storage %s: tensor size %v, stride %v overflows", st.key, shape, stride)
			}
		}
		if last >= st.numel {
			return nil, fmt.Errorf("storage %s: tensor of size %v, stride %v at offset %d reaches element %d of a %d-element storage",
				st.key, shape, stride, offset, last, st.numel)
		}
	} else if offset > st.numel {
		return nil, fmt.Errorf("storage %s: empty tensor at offset %d of a %d-element storage", st.key, offset, st.numel)
	}
	return &tensorRef{st: st, offset: offset, shape: shape, stride: stride, numel: n}, nil
}

// intTuple reads a tuple of non-negative ints (a size or a stride).
func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s, not a tuple", describe(v))
	}
	if t.Len() > maxDims {
		return nil, fmt.Errorf("%d dimensions, more than %d", t.Len(), maxDims)
	}
	out := make([]int, t.Len())
	for i, e := range *t {
		d, ok := e.(int)
		if !ok || d < 0 {
			return nil, fmt.Errorf("element %d is %s, not a non-negative integer", i, describe(e))
		}
		out[i] = d
	}
	return out, nil
}

// parseStorageID reads a persistent id ('storage', class, key, location, numel,
// ...) and returns the storage class, key and element count; the location
// ("cpu", "cuda:0") is ignored. want is the tuple's length in this format.
func parseStorageID(id *types.Tuple, want int) (storageClass, string, int, error) {
	if id.Len() == 0 || id.Get(0) != "storage" {
		return storageClass{}, "", 0, fmt.Errorf("persistent id %s is not a storage", describe(id))
	}
	if id.Len() != want {
		return storageClass{}, "", 0, fmt.Errorf("storage id has %d fields, want %d", id.Len(), want)
	}
	cls, ok1 := id.Get(1).(storageClass)
	key, ok2 := id.Get(2).(string)
	_, ok3 := id.Get(3).(string)
	numel, ok4 := id.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || !ok4 || numel < 0 || len(key) > 256 {
		return storageClass{}, "", 0, fmt.Errorf("storage id (%s, %s, %s, %s) is not (class, key, location, count)",
			describe(id.Get(1)), describe(id.Get(2)), describe(id.Get(3)), describe(id.Get(4)))
	}
	return cls, key, numel, nil
}

// hookError marks errors of our own hooks, which gopickle passes through, so
// that unpickle returns them whole.
type hookError struct{ error }

func (e hookError) Unwrap() error { return e.error }

// unpickle runs gopickle over p, which scanPickle has accepted. persistentLoad
// may be nil for pickles that must not refer to storages.
func unpickle(p []byte, persistentLoad func(id *types.Tuple) (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle (%s)", clip(fmt.Sprint(r), 200))
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = findClass
	if persistentLoad != nil {
		u.PersistentLoad = func(id any) (any, error) {
			t, ok := id.(*types.Tuple)
			if !ok {
				return nil, hookError{fmt.Errorf("persistent id %s is not a tuple", describe(id))}
			}
			v, err := persistentLoad(t)
			if err != nil {
				return nil, hookError{err}
			}
			return v, nil
		}
	}
	v, err = u.Load()
	if err != nil {
		var he hookError
		if errors.As(err, &he) {
			return nil, he.error
		}
		// gopickle's messages may print whole values with %#v.
		return nil, fmt.Errorf("malformed pickle: %s", clip(err.Error(), 200))
	}
	return v, nil
}

// stateDict reads the top-level object of a checkpoint pickle: a dict or
// OrderedDict from names to tensors, in the order of the file.
func stateDict(v any) ([]string, []*tensorRef, error) {
	var keys []string
	var refs []*tensorRef
	put := func(k, v any) error {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %s is not a string", describe(k))
		}
		ref, ok := v.(*tensorRef)
		if !ok {
			return fmt.Errorf("%s: value is %s, not a tensor", clip(key, 200), describe(v))
		}
		keys = append(keys, key)
		refs = append(refs, ref)
		return nil
	}
	switch d := v.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := put(entry.Key, entry.Value); err != nil {
				return nil, nil, err
			}
		}
	case *types.Dict:
		seen := make(map[string]bool, len(*d))
		for _, entry := range *d {
			if err := put(entry.Key, entry.Value); err != nil {
				return nil, nil, err
			}
			k := keys[len(keys)-1]
			if seen[k] {
				return nil, nil, fmt.Errorf("state dict key %q appears twice", clip(k, 200))
			}
			seen[k] = true
		}
	case *tensorRef:
		return nil, nil, errors.New("the file holds a single tensor, not a dict of tensors")
	default:
		return nil, nil, fmt.Errorf("the file holds %s, not a dict of tensors", describe(v))
	}
	return keys, refs, nil
}

// describe names a pickled value for an error message without printing it whole.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return fmt.Sprint(x)
	case int:
		return fmt.Sprint(x)
	case *big.Int:
		return clip(x.String(), 40)
	case float64:
		return fmt.Sprint(x)
	case string:
		return fmt.Sprintf("%q", clip(x, 60))
	case []byte:
		return fmt.Sprintf("bytes of length %d", len(x))
	case *types.Tuple:
		return fmt.Sprintf("a %d-tuple", x.Len())
	case *types.List:
		return fmt.Sprintf("a list of %d", x.Len())
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case storageClass:
		return "torch." + x.name
	case *storage:
		return "storage " + x.key
	case *tensorRef:
		return "a tensor"
	}
	return fmt.Sprintf("a %T", v)
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
