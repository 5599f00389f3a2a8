// Package buildinfo reports which build of Tailor is running.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time for releases
// (-ldflags "-X github.com/tailor-sh/tailor/buildinfo.Version=v0.1.0").
// Development builds report the module version or VCS revision instead.
var Version = ""

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running build's information.
func Get() Info {
	info := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Revision = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

func (i Info) String() string {
	s := fmt.Sprintf("tailor %s (%s, %s)", i.Version, i.GoVersion, i.Platform)
	if i.Revision != "" {
		s = fmt.Sprintf("tailor %s, revision %s (%s, %s)", i.Version, i.Revision, i.GoVersion, i.Platform)
	}
	return s
}
