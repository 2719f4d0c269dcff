package config

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's configuration table is the user's documentation: every variable the code reads
// must be in it.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}
		assert.Contains(t, string(readme), "`"+name+"`", "README.md does not document %s", name)
	}
}

func TestServeRefusesUnsafeProductionConfiguration(t *testing.T) {
	base := Config{PublicURL: "https://onboard.example.com", OperatorToken: strings.Repeat("x", 24)}
	require.NoError(t, base.ValidateServe())

	for name, mutate := range map[string]func(*Config){
		"http public URL":      func(c *Config) { c.PublicURL = "http://onboard.example.com" },
		"public URL with path": func(c *Config) { c.PublicURL = "https://example.com/onboard" },
		"no operator token":    func(c *Config) { c.OperatorToken = "" },
		"short operator token": func(c *Config) { c.OperatorToken = "short" },
	} {
		c := base
		mutate(&c)
		assert.Error(t, c.ValidateServe(), name)
	}
	dev := Config{DevMode: true, PublicURL: "http://127.0.0.1:8080"}
	assert.NoError(t, dev.ValidateServe(), "dev mode runs on http without an operator token")

	_, err := (Config{}).Keyring()
	assert.ErrorContains(t, err, "DUALHOOK_ENCRYPTION_KEYS")
}

func TestDeliveryConfigurationIsChecked(t *testing.T) {
	base := Config{DeliveryTimeout: 10 * time.Second, EventRescueAfter: 10 * time.Minute}
	require.NoError(t, base.ValidateDelivery())
	for name, mutate := range map[string]func(*Config){
		"no timeout":              func(c *Config) { c.DeliveryTimeout = 0 },
		"timeout over 30 s":       func(c *Config) { c.DeliveryTimeout = 31 * time.Second },
		"delay over 24 h":         func(c *Config) { c.DeliverySchedule = []time.Duration{25 * time.Hour} },
		"negative rescue timeout": func(c *Config) { c.EventRescueAfter = -time.Minute },
	} {
		c := base
		mutate(&c)
		assert.Error(t, c.ValidateDelivery(), name)
	}
}

func TestEventRescueWaitDefaultsWhenUnset(t *testing.T) {
	assert.Equal(t, DefaultEventRescueAfter, Config{}.EventRescueWait())
	assert.Equal(t, time.Minute, Config{EventRescueAfter: time.Minute}.EventRescueWait())
}

func TestEgressPolicy(t *testing.T) {
	p, err := Config{DevMode: true, EgressAllowCIDRs: "10.1.2.3/32, 192.168.0.0/16"}.EgressPolicy()
	require.NoError(t, err)
	assert.True(t, p.DevMode)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("192.168.0.0/16")}, p.AllowCIDRs)

	p, err = Config{}.EgressPolicy()
	require.NoError(t, err)
	assert.Empty(t, p.AllowCIDRs, "unset allows nothing extra")

	// A bad value is refused, naming the variable, rather than ignored.
	for _, bad := range []string{"10.0.0.1/8", "not-a-cidr", "10.0.0.0/33"} {
		_, err := Config{EgressAllowCIDRs: bad}.EgressPolicy()
		assert.ErrorContains(t, err, "DUALHOOK_EGRESS_ALLOW_CIDRS", bad)
		assert.ErrorContains(t, err, bad)
	}
}
