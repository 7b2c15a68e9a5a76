#!/bin/sh
# The container's entrypoint, run from the data folder (/data in the image).
#
# With no arguments, or "run": upgrade the database schema, then become the bridge, as
# mautrix's bridges do in their images, so a fresh volume and a new image both start
# without a manual step. "generate-registration" writes registration.yaml next to the
# config and fills in the config's generated secrets. Anything else goes to `bridge`.
set -eu

config="${BRIDGE_CONFIG:-config.yaml}"
registration="${BRIDGE_REGISTRATION:-registration.yaml}"

need_config() {
    if [ ! -f "$config" ]; then
        echo "No config at $(pwd)/$config. Put a config.yaml there (start from" \
             "config.example.yaml), then run this image with 'generate-registration'." >&2
        exit 2
    fi
}

if [ "$#" -eq 0 ]; then
    set -- run
fi

case "$1" in
    run)
        shift
        need_config
        bridge db upgrade -c "$config"
        exec bridge run -c "$config" "$@"
        ;;
    generate-registration)
        shift
        need_config
        exec bridge generate-registration -c "$config" -r "$registration" "$@"
        ;;
    *)
        exec bridge "$@"
        ;;
esac
