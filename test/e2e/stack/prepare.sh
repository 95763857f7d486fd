#!/usr/bin/env bash
# Prepares the e2e suite's local stack: makes sure etcd, Java (17 to 21) and Maven
# are installed (installing the Debian packages when they are missing) and
# copies the Kafka and OpenSearch jars named by kafka/pom.xml and
# opensearch/pom.xml into a cache directory outside the repository, once per
# pom version.
#
# Progress goes to stderr. On success stdout has one key=value line per tool,
# which the suite reads:
#
#	etcd=/usr/bin/etcd
#	java=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
#	kafka_lib=$HOME/.cache/logpipe-e2e/kafka-<hash>/lib
#	opensearch_lib=$HOME/.cache/logpipe-e2e/opensearch-<hash>/lib
#
# The cache is LOGPIPE_E2E_CACHE (default $XDG_CACHE_HOME/logpipe-e2e or
# $HOME/.cache/logpipe-e2e); Maven keeps its own copy in ~/.m2 as usual.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LOGPIPE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/logpipe-e2e}"
mkdir -p "$cache"

log() { echo "stack/prepare: $*" >&2; }

apt_updated=""
apt_install() {
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			log "need the Debian packages $* (not root, no sudo): install them and run again"
			exit 1
		fi
		sudo="sudo"
	fi
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		$sudo apt-get update -qq >&2
		apt_updated=1
	fi
	log "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

# etcd: a real external server, from Debian's etcd-server package.
etcd_bin="${LOGPIPE_E2E_ETCD_BIN:-$(command -v etcd || true)}"
if [ -z "$etcd_bin" ]; then
	apt_install etcd-server
	etcd_bin="$(command -v etcd)"
fi

# Java 17 to 21: the versions both Kafka 4 and OpenSearch 2.19 support.
java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'; }
java_bin=""
for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
	major="$( [ -n "$candidate" ] && [ -x "$candidate" ] && java_major "$candidate" || true)"
	if [ -n "$major" ] && [ "$major" -ge 17 ] && [ "$major" -le 21 ]; then
		java_bin="$candidate"
		break
	fi
done
if [ -z "$java_bin" ]; then
	apt_install openjdk-17-jre-headless
	java_bin="$(ls /usr/lib/jvm/java-17-openjdk-*/bin/java | head -n 1)"
fi
if ! command -v mvn >/dev/null 2>&1; then
	apt_install maven
fi

# fetch NAME copies the runtime dependencies of NAME/pom.xml into
# $cache/NAME-<hash of the pom>/lib, unless an earlier run did.
fetch() {
	local name="$1" pom="$here/$1/pom.xml" hash dir tmp attempt
	hash="$(sha256sum "$pom" | cut -c1-12)"
	dir="$cache/$name-$hash"
	if [ ! -f "$dir/complete" ]; then
		tmp="$(mktemp -d "$cache/.$name.XXXXXX")"
		log "fetching $name jars with Maven into $dir"
		for attempt in 1 2 3; do
			if JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$java_bin")")")" \
				mvn -q -B -ntp -Dstyle.color=never -f "$pom" \
				org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
				-DincludeScope=runtime -DoutputDirectory="$tmp/lib" 2>&1 |
				sed $'s/\e\\[0m//g' >&2; then
				break
			fi
			if [ "$attempt" -eq 3 ]; then
				rm -rf "$tmp"
				log "Maven could not fetch the $name jars"
				exit 1
			fi
			log "Maven failed (attempt $attempt), retrying"
			sleep 5
		done
		touch "$tmp/complete"
		rm -rf "$dir"
		mv "$tmp" "$dir"
	fi
	echo "${name}_lib=$dir/lib"
}

# One preparation at a time per cache: two suites starting together must not
# copy into the same directory.
exec 9>"$cache/.lock"
flock 9

echo "etcd=$etcd_bin"
echo "java=$java_bin"
fetch kafka
fetch opensearch
