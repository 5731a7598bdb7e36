# shellcheck shell=bash
# Shared by scripts/demo.sh, scripts/test.sh and .ci/run: the packages nftproxy
# needs on Debian, installed only when missing, and the meson build.

NFTP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build: compiler, meson, and the libraries of meson.build. Run: nftables
# (nft, used by the tests to look at the table), iproute2 (network
# namespaces), conntrack (the tests look at flows). jq reads nftproxyctl dump
# --json in the tests. scripts/test.sh adds NFTP_TEST_PACKAGES.
NFTP_PACKAGES=(meson ninja-build pkg-config gcc libnftnl-dev libmnl-dev libyajl-dev
	libuv1-dev libyaml-dev libcurl4-openssl-dev libnetfilter-conntrack-dev nftables
	iproute2 conntrack jq)
# Only for the tests: valgrind (leak checks), clang and its libFuzzer
# runtime (the fuzz regression run of tests/fuzz); Node.js, openssl and curl
# for the test Kubernetes API server (tests/apiserver) and its clients;
# python3 for the generators and echo peer of test_crash_sync.
# kubectl is installed when a configured apt source has it (Debian's own
# archive does not; the API tests skip without it).
NFTP_TEST_PACKAGES=(valgrind clang libclang-rt-14-dev nodejs openssl curl python3)
NFTP_OPTIONAL_TEST_PACKAGES=(kubectl)

nftp_say() { printf '==> %s\n' "$*"; }

# Prints the packages of NFTP_PACKAGES that are not installed.
nftp_missing_packages() {
	local p missing=()
	command -v dpkg-query >/dev/null || { echo "${NFTP_PACKAGES[*]}"; return 0; }
	for p in "${NFTP_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	echo "${missing[*]}"
}

# Installs whatever is missing (apt-get update first); needs root and apt.
nftp_install_packages() {
	local missing
	missing=$(nftp_missing_packages)
	if [[ -z $missing ]]; then
		nftp_say "packages: all present"
		return 0
	fi
	if ! command -v apt-get >/dev/null; then
		echo "missing packages: $missing (no apt-get here: install them by hand)" >&2
		return 1
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "missing packages: $missing (run as root to install them)" >&2
		return 1
	fi
	nftp_say "installing: $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
}

# Installs each of NFTP_OPTIONAL_TEST_PACKAGES whose command is missing and
# that apt knows; never fails.
nftp_install_optional() {
	local p
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 0
	for p in "${NFTP_OPTIONAL_TEST_PACKAGES[@]}"; do
		command -v "$p" >/dev/null && continue
		if apt-cache show "$p" >/dev/null 2>&1; then
			nftp_say "installing $p"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" ||
				nftp_say "could not install $p: the tests that need it skip"
		else
			nftp_say "no package $p in the apt sources: the tests that need it skip"
		fi
	done
}

# nftp_build DIR [MESON_OPTIONS...]: meson setup DIR (once), meson compile.
nftp_build() {
	local dir=$1
	shift
	if [[ ! -f $dir/build.ninja ]]; then
		nftp_say "meson setup $dir $*"
		rm -rf "$dir"
		meson setup "$dir" "$NFTP_REPO" "$@"
	fi
	nftp_say "meson compile -C $dir"
	meson compile -C "$dir"
}
