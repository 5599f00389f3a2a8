package cli

// The CLI runs the controller (playground) and plans (plan) with whichever
// providers this build links in; it never names one.
import _ "github.com/tailor-sh/tailor/providers"
