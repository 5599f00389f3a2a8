package instancetype

import "testing"

func TestParseInstanceName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want InstanceName
	}{
		{"c6i.large", InstanceName{Family: "c6i", Size: "large", Category: "c", Generation: "6"}},
		{"m7g.2xlarge", InstanceName{Family: "m7g", Size: "2xlarge", Category: "m", Generation: "7"}},
		{"x2gd.metal", InstanceName{Family: "x2gd", Size: "metal", Category: "x", Generation: "2"}},
		{"inf2.xlarge", InstanceName{Family: "inf2", Size: "xlarge", Category: "inf", Generation: "2"}},
		{"u-6tb1.112xlarge", InstanceName{Family: "u-6tb1", Size: "112xlarge", Category: "u", Generation: ""}},
		{"n2-standard-8", InstanceName{Family: "n2-standard", Size: "8", Category: "n", Generation: "2"}},
		{"n2d-highmem-16", InstanceName{Family: "n2d-highmem", Size: "16", Category: "n", Generation: "2"}},
		{"e2-medium", InstanceName{Family: "e2", Size: "medium", Category: "e", Generation: "2"}},
		{"a2-highgpu-1g", InstanceName{Family: "a2-highgpu", Size: "1g", Category: "a", Generation: "2"}},
		{"custom", InstanceName{Family: "custom", Category: "custom"}},
		{"", InstanceName{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseInstanceName(tc.name); got != tc.want {
				t.Fatalf("ParseInstanceName(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
		})
	}
}
