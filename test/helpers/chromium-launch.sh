#!/bin/sh
# Starts /usr/bin/chromium with every --disable-features= switch it is given merged into one. Chromium keeps
# only the last of a repeated switch, so the features the browser tests turn off (test/helpers/chromium.ts)
# would otherwise silently replace the list Playwright turns off itself.
features=
for arg; do
  shift
  case $arg in
    --disable-features=*) features="${features:+$features,}${arg#--disable-features=}" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec /usr/bin/chromium "$@" ${features:+"--disable-features=$features"}
