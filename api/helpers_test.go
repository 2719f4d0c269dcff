package api_test

import (
	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/internal/config"
)

func apikeyGenerate() string { return apikey.Generate().Plaintext }

type configT = config.Config
