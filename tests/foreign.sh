# Sourced by the test scripts.  foreign FILE REF: true where FILE is an
# ELF file built for another machine than the ELF file REF, as a cross
# build's programs and libraries are when an emulator runs its tests here
# (a script or any other file is not foreign).
elf_machine() { # the ELF header's e_machine; nothing, and false, if not ELF
  [ "$(od -An -c -N4 "$1" | tr -d ' ')" = 177ELF ] && od -An -tx1 -j18 -N2 "$1"
}
foreign() {
  m=$(elf_machine "$1") && [ "$m" != "$(elf_machine "$2")" ]
}
