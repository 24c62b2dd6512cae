# CPack pre-build script: the package puts the binary in /usr/bin, while the units and the
# keepalived examples name /usr/local/bin (where `cmake --install` puts it): point them there.
file(GLOB_RECURSE staged
  "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.service"
  "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*keepalived-node*.conf")
foreach(f ${staged})
  file(READ "${f}" text)
  string(REPLACE "/usr/local/bin/k3lb" "/usr/bin/k3lb" text "${text}")
  file(WRITE "${f}" "${text}")
endforeach()
