package opt

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	assert.Nil(t, String(""))
	assert.Equal(t, "x", *String("x"))
}

func TestDerefAndOr(t *testing.T) {
	assert.Equal(t, "", Deref[string](nil))
	assert.Equal(t, "x", Deref(Ptr("x")))
	assert.Equal(t, int32(0), Deref[int32](nil))
	assert.Equal(t, "-", Or(nil, "-"))
	assert.Equal(t, "x", Or(Ptr("x"), "-"))
}

func TestPtrCopies(t *testing.T) {
	v := 1
	p := Ptr(v)
	*p = 2
	assert.Equal(t, 1, v)
}
